import numpy as np, collections
from fit_pair_model import Corpus, FIT_CORPORA, fit
from storycluster.stories.clustering import merge_sequence, cut_merges
from storycluster.stories.evaluation import bcubed
import json
from storycluster.stories.clustering import PairModel
og=Corpus("og2021_dev","multilingual")
ml=[Corpus(n,"multilingual") for n in FIT_CORPORA]
model,_=fit(ml)
p=model.probability(og.signals, og.cross)
print("true story sizes", np.percentile(list(collections.Counter(og.labels).values()),[50,90,99,100]))
for budget in (1,3,10,np.inf):
    ms=merge_sequence(og.n,og.left,og.right,p,0.3,budget)
    res=[]
    for t in (0.45,0.6,0.7):
        lab=cut_merges(og.n,*ms,t); sz=sorted(collections.Counter(lab).values())[-3:]
        res.append((t,[round(x,3) for x in bcubed(og.labels,lab)],sz))
    print(budget,res)

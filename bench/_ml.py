import numpy as np, sys, itertools, collections
import fit_pair_model as F
from fit_pair_model import Corpus, FIT_CORPORA, fit
from storycluster.stories.clustering import merge_sequence, cut_merges
from storycluster.stories.evaluation import bcubed
ml=[Corpus(n,"multilingual") for n in FIT_CORPORA]
og=Corpus("og2021_dev","multilingual")
model,grid=fit(ml)
for c,row in zip(ml,grid): print(c.name, " ".join(f"{t}:{f:.3f}" for t,f in zip(F.THRESHOLDS,row)))
print(model)
def xl(c, labels):
    L=c.lang; T=c.labels; tog=collections.Counter(); tot=collections.Counter()
    by=collections.defaultdict(list)
    for i,s in enumerate(T): by[s].append(i)
    for m in by.values():
        for i,j in itertools.combinations(m,2):
            if L[i]!=L[j]:
                k=tuple(sorted((L[i],L[j]))); tot[k]+=1; tog[k]+=labels[i]==labels[j]
    return sum(tog.values())/sum(tot.values()), {k:(round(tog[k]/tot[k],2),tot[k]) for k,_ in tot.most_common(8)}
for cross in ("lang","script"):
    cr = og.cross if cross=="lang" else np.array([False]*len(og.cross))
    p=model.probability(og.signals, cr)
    ms=merge_sequence(og.n,og.left,og.right,p,0.3)
    for t in (0.4,0.5,0.6,0.7,0.8):
        lab=cut_merges(og.n,*ms,t); print(cross, t, [round(x,3) for x in bcubed(og.labels,lab)], round(xl(og,lab)[0],3))

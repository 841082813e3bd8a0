import numpy as np, collections, itertools
import fit_pair_model as F
from fit_pair_model import Corpus, FIT_CORPORA, fit
from storycluster.stories.clustering import merge_sequence, cut_merges
from storycluster.stories.evaluation import bcubed
def xl(c, labels):
    L=c.lang; T=c.labels; tog=tot=0
    by=collections.defaultdict(list)
    for i,s in enumerate(T): by[s].append(i)
    for m in by.values():
        for i,j in itertools.combinations(m,2):
            if L[i]!=L[j]: tot+=1; tog+=labels[i]==labels[j]
    return tog/tot
cs=[Corpus(n,"multilingual") for n in FIT_CORPORA+["og2021_dev"]]
model,grid=fit(cs)
print("all 7: t", model.threshold, dict(zip(model.features,np.round(model.coef,2))))
for c,row in zip(cs,grid): print("  ", c.name, " ".join(f"{t}:{f:.3f}" for t,f in zip(F.THRESHOLDS,row)))
og=cs[-1]; p=model.probability(og.signals, og.cross); lab=cut_merges(og.n,*merge_sequence(og.n,og.left,og.right,p,model.threshold),model.threshold)
print("og in-sample", np.round(bcubed(og.labels,lab),3), "xlang", round(xl(og,lab),3))
for c in cs[:-1]:
    m,_=fit([o for o in cs if o is not c]); print("held-out", c.name, round(c.score(m),3), "t", m.threshold, flush=True)

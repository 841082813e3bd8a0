import numpy as np, collections
import fit_pair_model as F
from fit_pair_model import Corpus, FIT_CORPORA, fit
from storycluster.stories.clustering import merge_sequence, cut_merges
from storycluster.stories.evaluation import bcubed
H=1/24
def add(c):
    days=np.array([a.published.timestamp()/86400 if a.published else np.nan for a in c.articles])
    gap=np.abs(days[c.left]-days[c.right])
    nodes=np.concatenate([c.left,c.right]); g=np.concatenate([gap,gap])
    ok=~np.isnan(g)
    med=np.full(c.n,np.nan)
    order=np.argsort(nodes[ok],kind="stable"); nn=nodes[ok][order]; gg=g[ok][order]
    starts=np.searchsorted(nn,np.arange(c.n+1))
    for i in range(c.n):
        if starts[i+1]>starts[i]: med[i]=np.median(gg[starts[i]:starts[i+1]])
    m=(med[c.left]+med[c.right])/2
    rel=np.log((gap+H)/(m+H))
    c.signals["time_rel"]=np.nan_to_num(np.minimum(rel,0),nan=0.0)
    c.signals["time_rel_full"]=np.nan_to_num(rel,nan=0.0)
    c.signals["time_rel_x_short"]=c.signals["time_rel"]*(5-np.minimum(c.signals["length"],5))
ml=[Corpus(n,"multilingual") for n in FIT_CORPORA]
og=Corpus("og2021_dev","multilingual")
for c in ml+[og]: add(c)
print("og time_rel T/F", og.signals["time_rel"][og.truth].mean(), og.signals["time_rel"][~og.truth].mean())
g=ml[2]; print("gvc time_rel T/F", g.signals["time_rel"][g.truth].mean(), g.signals["time_rel"][~g.truth].mean())
base=F.FEATURES
for extra in (("time_rel",),("time_rel_full",),("time_rel","time_rel_x_short")):
    F.FEATURES=base+extra; F.DENSE_FEATURES=tuple(f for f in F.FEATURES if f not in ("lexical","names","lexical_x_length"))
    model,grid=fit(ml)
    print(extra, dict(zip(F.FEATURES[-3:],np.round(model.coef[-3:],2))), "t",model.threshold, "in-sample", grid[:, list(F.THRESHOLDS).index(model.threshold)].round(3))
    p=model.probability(og.signals, og.cross); ms=merge_sequence(og.n,og.left,og.right,p,0.3)
    print("   og", [(t,[round(x,3) for x in bcubed(og.labels,cut_merges(og.n,*ms,t))]) for t in (model.threshold,0.6,0.7)])

import numpy as np, collections, itertools
import fit_pair_model as F
from fit_pair_model import Corpus, FIT_CORPORA, fit
from storycluster.stories.clustering import merge_sequence, cut_merges
from storycluster.stories.evaluation import bcubed
K=3
def add(c):
    lang=np.array([x or "" for x in c.lang]); codes,li=np.unique(lang,return_inverse=True); L=len(codes)
    d=c.signals["dense"]
    nodes=np.concatenate([c.left,c.right]); other=np.concatenate([c.right,c.left]); vals=np.concatenate([d,d])
    key=nodes*L+li[other]
    order=np.lexsort((-vals,key)); key_s=key[order]; v_s=vals[order]
    starts=np.searchsorted(key_s, key_s, side="left")
    rank=np.arange(len(key_s))-starts; top=rank<K
    tot=np.bincount(key_s[top],weights=v_s[top],minlength=c.n*L); cnt=np.bincount(key_s[top],minlength=c.n*L)
    r=np.divide(tot,cnt,out=np.zeros_like(tot),where=cnt>0)
    ri=r[c.left*L+li[c.right]]; rj=r[c.right*L+li[c.left]]
    c.signals["csls"]=d-(ri+rj)/2
def xl(c, labels):
    L=c.lang; T=c.labels; tog=tot=0
    by=collections.defaultdict(list)
    for i,s in enumerate(T): by[s].append(i)
    for m in by.values():
        for i,j in itertools.combinations(m,2):
            if L[i]!=L[j]: tot+=1; tog+=labels[i]==labels[j]
    return tog/tot
ml=[Corpus(n,"multilingual") for n in FIT_CORPORA]; og=Corpus("og2021_dev","multilingual")
for c in ml+[og]: add(c)
x=og.lang[og.left]!=og.lang[og.right]
print("og csls same-lang T/F", og.signals["csls"][og.truth&~x].mean().round(3), og.signals["csls"][~og.truth&~x].mean().round(3), "xlang T/F", og.signals["csls"][og.truth&x].mean().round(3), og.signals["csls"][~og.truth&x].mean().round(3))
base=F.FEATURES
for extra in ((),("csls",)):
    F.FEATURES=base+extra; F.DENSE_FEATURES=tuple(f for f in F.FEATURES if f not in ("lexical","names","lexical_x_length"))
    model,grid=fit(ml)
    print(extra, "t", model.threshold, dict(zip(model.dense_features, np.round(model.dense_coef,2))), "in-sample", grid[:, list(F.THRESHOLDS).index(model.threshold)].round(3))
    p=model.probability(og.signals, og.cross); ms=merge_sequence(og.n,og.left,og.right,p,0.3)
    for t in (model.threshold,0.6,0.7):
        lab=cut_merges(og.n,*ms,t); print("   og",t,[round(v,3) for v in bcubed(og.labels,lab)], "xlang", round(xl(og,lab),3))

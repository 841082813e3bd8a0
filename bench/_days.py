import numpy as np, collections, sys
from fit_pair_model import Corpus
from storycluster.stories.clustering import StoryClusterer, StoryConfig
from storycluster.stories.evaluation import bcubed
og=Corpus("og2021_dev","multilingual")
d=np.load('/tmp/stories-cache/og2021_dev.multilingual.npz',allow_pickle=True)
day=np.array([str(a.published.date()) for a in og.articles])
days=sorted(set(day))
def run(sel):
    arts=[og.articles[i] for i in sel]
    lab=StoryClusterer(StoryConfig(embedding_model="multilingual")).fit(arts).labels_
    return bcubed(og.labels[sel],lab), lab
for w in (1,3,7):
    res=[]
    for k in range(0,len(days)-w+1, max(w,3)):
        sel=np.flatnonzero(np.isin(day,days[k:k+w]))
        if len(sel)<50: continue
        res.append(run(sel)[0][2])
    print("window",w,"days: mean F1 %.3f over %d windows"%(np.mean(res),len(res)), np.round(res,2)[:8], flush=True)
sel=np.flatnonzero(np.isin(day,["2021-07-22","2021-07-23","2021-07-24","2021-07-25","2021-07-26"]))
(f,lab)=run(sel); print("5 days around 07-24", len(sel), f)
gold=[j for j,i in enumerate(sel) if og.labels[i]=="og2021-wn-587"]
c=collections.Counter(lab[gold]); print(c, [ (lab==k).sum() for k in c])

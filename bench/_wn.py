import numpy as np, collections
from fit_pair_model import Corpus
from storycluster.stories.clustering import merge_sequence, cut_merges, default_pair_model
from storycluster.stories.evaluation import bcubed
og=Corpus("og2021_dev","multilingual"); m=default_pair_model("multilingual")
p=m.probability(og.signals, og.cross); lab=cut_merges(og.n,*merge_sequence(og.n,og.left,og.right,p,m.threshold),m.threshold)
print(bcubed(og.labels,lab))
d=np.load('/tmp/stories-cache/og2021_dev.multilingual.npz',allow_pickle=True)
idx=np.flatnonzero(og.labels=="og2021-wn-208")
for i in idx: print(lab[i], og.lang[i], d['title'][i][:60], (lab==lab[i]).sum())
# count en/es/ru stories fully recovered
by=collections.defaultdict(list)
for i,s in enumerate(og.labels): by[s].append(i)
ok=tot=0
for s,mem in by.items():
    langs=set(og.lang[mem])
    if {'en','es','ru'}<=langs:
        tot+=1; sub=[i for i in mem if og.lang[i] in ('en','es','ru')]
        # any en, es, ru title sharing one predicted story
        for c in set(lab[sub]):
            if {'en','es','ru'} <= set(og.lang[[i for i in sub if lab[i]==c]]): ok+=1; break
print("en+es+ru stories", tot, "with an en, es and ru title in one predicted story", ok)
print("clean ones:")
for s,mem in by.items():
    langs=set(og.lang[mem])
    if {'en','es','ru'}<=langs:
        sub=[i for i in mem if og.lang[i] in ('en','es','ru')]
        for c in set(lab[sub]):
            if {'en','es','ru'} <= set(og.lang[[i for i in sub if lab[i]==c]]) and (lab==c).sum() <= 2*len(mem):
                print(s, len(mem), (lab==c).sum(), str(d['ids'][mem[0]]), [ (og.lang[i], d['title'][i][:50]) for i in mem][:6])

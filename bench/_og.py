import numpy as np
from fit_pair_model import Corpus
from storycluster.stories.clustering import default_pair_model, merge_sequence, cut_merges
from storycluster.stories.evaluation import bcubed
c=Corpus("og2021_dev","multilingual")
lang=c.lang; xl=lang[c.left]!=lang[c.right]
print("pairs",len(c.truth),"true",c.truth.sum(),"xlang pairs",xl.sum(),"xlang true",(c.truth&xl).sum(), "cross-script", c.cross.sum())
for f in ["dense","article","lexical","names","crowding","length","days_apart"]:
    s=c.signals[f]; print(f, "same-lang T/F %.2f/%.2f"%(s[c.truth&~xl].mean(), s[~c.truth&~xl].mean()), "xlang T/F %.2f/%.2f"%(s[c.truth&xl].mean(), s[~c.truth&xl].mean()))
m=default_pair_model(); p=m.probability(c.signals,c.cross)
ms=merge_sequence(c.n,c.left,c.right,p,0.3)
for t in (0.4,0.5,0.6,0.7,0.8): print(t,[round(x,3) for x in bcubed(c.labels,cut_merges(c.n,*ms,t))])

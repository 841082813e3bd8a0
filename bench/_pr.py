import numpy as np
from fit_pair_model import Corpus
from storycluster.stories.clustering import default_pair_model, merge_sequence, cut_merges
from storycluster.stories.evaluation import bcubed
from sklearn.metrics import roc_auc_score
m=default_pair_model()
for n in ["ecbplus","neus_val","gvc","basil"]:
    c=Corpus(n); p=m.probability(c.signals,c.cross)
    ms=merge_sequence(c.n,c.left,c.right,p,0.3)
    print(n, "auc", round(roc_auc_score(c.truth,p),3), "lexauc", round(roc_auc_score(c.truth,c.signals['lexical']),3), [ (t,[round(x,3) for x in bcubed(c.labels,cut_merges(c.n,*ms,t))]) for t in (0.4,0.5,0.6)])
    # recall ceiling: share of true same-story pairs that are in candidate graph
    lab=c.labels; import collections
    cnt=collections.Counter(lab); tot=sum(v*(v-1)//2 for v in cnt.values())
    print("   true pairs", tot, "in graph", c.truth.sum())

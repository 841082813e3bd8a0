import numpy as np, sys
import fit_pair_model as F
from fit_pair_model import Corpus, FIT_CORPORA, fit
from storycluster.stories.clustering import merge_sequence, cut_merges
from storycluster.stories.evaluation import bcubed
model_name = sys.argv[1] if len(sys.argv)>1 and sys.argv[1]!="en" else None
cs=[Corpus(n,model_name) for n in FIT_CORPORA]
og=Corpus("og2021_dev","multilingual") if model_name else None
base=F.FEATURES
for drop in ((),("time_closeness",),("days_apart",)):
    F.FEATURES=tuple(f for f in base if f not in drop); F.DENSE_FEATURES=tuple(f for f in F.FEATURES if f not in ("lexical","names","lexical_x_length"))
    ins=[];out=[]
    m,_=fit(cs)
    for c in cs:
        h,_=fit([o for o in cs if o is not c]); ins.append(c.score(m)); out.append(c.score(h))
    extra=""
    if og:
        p=m.probability(og.signals,og.cross); extra=" og %.3f"%bcubed(og.labels,cut_merges(og.n,*merge_sequence(og.n,og.left,og.right,p,m.threshold),m.threshold))[2]
    print(model_name, "drop",drop, "in",np.round(ins,3), "mean %.3f"%np.mean(ins), "held",np.round(out,3),"mean %.3f worst %.3f"%(np.mean(out),np.min(out)), extra, flush=True)

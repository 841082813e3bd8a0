import numpy as np, collections, sys
import fit_pair_model as F
from fit_pair_model import Corpus, FIT_CORPORA, fit
from storycluster.stories.clustering import merge_sequence, cut_merges
from storycluster.stories.evaluation import bcubed
for model_name in (None,"multilingual"):
    cs=[Corpus(n,model_name) for n in FIT_CORPORA]
    model,grid=fit(cs)
    print(model_name, "t", model.threshold, dict(zip(model.features, model.coef)))
    for c,row in zip(cs,grid): print("  ", c.name, " ".join(f"{t}:{f:.3f}" for t,f in zip(F.THRESHOLDS,row)))
    if model_name:
        og=Corpus("og2021_dev","multilingual")
        p=model.probability(og.signals, og.cross); ms=merge_sequence(og.n,og.left,og.right,p,0.3)
        print("   og", [(t,[round(x,3) for x in bcubed(og.labels,cut_merges(og.n,*ms,t))]) for t in (0.4,0.45,0.5,0.6,0.7)])
    sys.stdout.flush()

import numpy as np, collections
from fit_pair_model import Corpus, FIT_CORPORA, fit, _regression, FEATURES, DENSE_FEATURES
from storycluster.stories.clustering import merge_sequence, cut_merges, PairModel
from storycluster.stories.evaluation import bcubed
from sklearn.metrics import roc_auc_score
og=Corpus("og2021_dev","multilingual")
ml=[Corpus(n,"multilingual") for n in FIT_CORPORA]
model,_=fit(ml)
p=model.probability(og.signals, og.cross); print("auc transfer", roc_auc_score(og.truth,p))
full=_regression([og],FEATURES); dense=_regression([og],DENSE_FEATURES)
m=PairModel(FEATURES, tuple(full.coef_[0]), float(full.intercept_[0]), DENSE_FEATURES, tuple(dense.coef_[0]), float(dense.intercept_[0]), 0.5)
print("og-fitted coefs", dict(zip(FEATURES, full.coef_[0].round(2))))
p2=m.probability(og.signals, og.cross); print("auc insample", roc_auc_score(og.truth,p2))
for f in FEATURES: print(f, round(roc_auc_score(og.truth, og.signals[f]),3))
ms=merge_sequence(og.n,og.left,og.right,p2,0.3)
for t in (0.4,0.5,0.6,0.7): print(t,[round(x,3) for x in bcubed(og.labels,cut_merges(og.n,*ms,t))])

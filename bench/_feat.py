import sys, numpy as np, fit_pair_model as F
from fit_pair_model import Corpus
from sklearn.metrics import roc_auc_score
from storycluster.stories.evaluation import bcubed
from storycluster.stories.clustering import merge_sequence, cut_merges
small=["ecbplus","neus_val","gvc","basil"]; big=["googlenews_ts","uci_news_dev"]
cs={n:Corpus(n) for n in small+big}
def extra(c):
    s=c.signals
    s["sqrt_lexical"]=np.sqrt(s["lexical"]); s["sqrt_names"]=np.sqrt(s["names"])
    s["names_x_length"]=s["names"]*s["length"]; s["dense_x_lexical"]=s["dense"]*s["lexical"]
    s["sqrt_lexical_x_length"]=s["sqrt_lexical"]*s["length"]
    s["article_x_length"]=s["article"]*s["length"]
for c in cs.values(): extra(c)
base=F.FEATURES
variants={"base":base,
 "sqrt":base+("sqrt_lexical","sqrt_names"),
 "sqrt_len":base+("sqrt_lexical","sqrt_names","sqrt_lexical_x_length","names_x_length"),
 "inter":base+("dense_x_lexical","names_x_length","article_x_length"),
}
for name,feats in variants.items():
    F.FEATURES=feats
    out=[]
    for held in small+big:
        others=[cs[n] for n in small+big if n!=held]
        reg=F._regression(others, feats)
        c=cs[held]; p=reg.predict_proba(c.matrix(feats))[:,1]
        auc=roc_auc_score(c.truth,p)
        if held in small:
            ms=merge_sequence(c.n,c.left,c.right,p,0.35)
            f=max(bcubed(c.labels,cut_merges(c.n,*ms,t))[2] for t in (0.35,0.4,0.45,0.5,0.55))
            f40=bcubed(c.labels,cut_merges(c.n,*ms,0.4))[2]
            out.append(f"{held[:6]} auc{auc:.3f} F{f40:.3f}/{f:.3f}")
        else: out.append(f"{held[:6]} auc{auc:.3f}")
    print(name, " | ".join(out), flush=True)

"""Evaluation datasets researchers already have: mirdata loaders (offline) and manifests, as split `Item`s.

`tasks` (which dataset carries which task, label logic), `items` (Item, splits), `mirdata_source`
(index handling, one extractor per loader), `manifest_source` (datasets mirdata lacks), `evalset`
(the split tracks of one evaluation). The protocol that scores them is `loev_core.evaluation.protocol`.
"""

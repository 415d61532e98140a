"""GeoRFT front door: the `georft` command tree (`georft.cli`) and the typed config loader (`georft.config`).

Nothing else lives here; the work is done by the packages below, which never import `georft`:
data_engine <- eval <- rewards <- rl; data_engine <- sft; rollout serves rl and eval; models serves the stages.
"""

__version__ = "0.1.0"

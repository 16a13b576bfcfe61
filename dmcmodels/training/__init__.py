"""Training: one loop for every model kind (:mod:`.trainer`), its config (:mod:`.config`), data
(:mod:`.data`), run folders and checkpoints (:mod:`.checkpoint`) and torchrun support
(:mod:`.distributed`). The command is ``dmcmodels train`` (:mod:`.cli`)."""

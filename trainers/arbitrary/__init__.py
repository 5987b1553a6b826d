"""Train the arbitrary-style network (stylenets.arbitrary): any picture as a style.

    python -m trainers.arbitrary --data photos/ more_photos/ --styles paintings/ --out models/adain
    stylestream train-arbitrary ...           (the same)

Each step pairs a batch of photo crops with a batch of style-picture crops (several scales,
flips, colour jitter for both), stylizes each photo with its pair's style code and scores
the result with VGG16: content against the photo, Gram matrices and channel statistics
against the style crop, all relative to the target's own size so every layer and every style
counts alike. The same photos at strength 0 must come back as themselves (the frame's own
statistics). Held-out style pictures (holdout.txt) are refused by the data loader.
Checkpoints, resume, precision and the wall-clock budget come from trainers.services.
"""
# The loop (trainers.arbitrary.loop) imports torch; the package itself must not, because the
# CLI imports trainers.arbitrary.config to build its parser in the plain, torch-free install.

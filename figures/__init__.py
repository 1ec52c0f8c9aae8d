"""figures: one function per paper figure, all built by ``qopt figures``.

========================  ======================  =========================================
figure (file stem)        module (figures.*)      shows
========================  ======================  =========================================
``projection_1d``         plot_projection_1d      P_Q, Moreau envelope, relaxed prox in 1-D
``coarse_cosine``         plot_coarse_cosine      cos(E coarse grad, true grad) vs θ, MC
``twolayer_landscape``    plot_landscape          two-layer landscape, Prop. 1, coarse GD
``approx_error``          plot_approx_error       exact vs approximate quantizer error, bits
``study_curves``          plot_study_curves       test acc / train loss vs epoch ± std
``study_diag``            plot_study_diag         λ continuation, code-flip fraction
``bench_scaling``         plot_bench_scaling      projection time / floor vs tensor size
``bench_optimizer_step``  plot_bench_optimizer    step overhead vs bare optimizer, torchao
========================  ======================  =========================================

Every ``plot_*`` function takes an output directory (plus small-size knobs for tests), writes
``NAME.pdf`` and ``NAME.png`` in the shared style of :mod:`figures.style`, and returns a
:class:`figures.style.FigureResult` holding the data it plotted. :mod:`figures.registry` maps
names to builds for the CLI; :mod:`figures.trained_weights` supplies real trained weights.
"""

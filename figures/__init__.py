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

:mod:`figures.plot_run` draws one training run's curves (``qopt plot RUN_DIR``, also
``qopt figures --run RUN_DIR``): loss, accuracies, lr, the method's scalars, dist², code flips.

Every ``plot_*`` function takes an output directory (plus small-size knobs for tests), writes
``NAME.pdf`` and ``NAME.png`` in the shared style of :mod:`figures.style`, and returns a
:class:`figures.style.FigureResult` holding the data it plotted and the layout problems found.

Shared pieces: :mod:`figures.labels` (one map from code names to display names — methods, weight
sets, STEs, models — and the panel orders: sets by bit width, methods in a fixed order),
:mod:`figures.style` (rcParams, one colour per method and per STE, readable log axes, the atomic
writer), :mod:`figures.layout` (the checker run on every saved figure: no overlapping text, at
least two labelled ticks per axis, nothing past the page edge), :mod:`figures.study_data` and
:mod:`figures.bench_data` (inputs; the machine/date caption of benchmark figures),
:mod:`figures.registry` (names -> builds for the CLI), :mod:`figures.trained_weights` (real
trained weights).
"""

"""figures: one function per paper figure, all built by ``qopt figures``.

======================  ================================  =========================================
figure (file stem)      module                            shows
======================  ================================  =========================================
``projection_1d``       :mod:`figures.plot_projection_1d`  P_Q, Moreau envelope, relaxed prox in 1-D
``coarse_cosine``       :mod:`figures.plot_coarse_cosine`  cos(E coarse grad, true grad) vs θ, MC
``twolayer_landscape``  :mod:`figures.plot_landscape`      two-layer landscape, Prop. 1, coarse GD
``study_curves``        :mod:`figures.plot_study_curves`   test acc / train loss vs epoch ± std
``study_diag``          :mod:`figures.plot_study_diag`     λ continuation, code-flip fraction
``bench_scaling``       :mod:`figures.plot_bench_scaling`  projection time / floor vs tensor size
======================  ================================  =========================================

Every ``plot_*`` function takes an output directory (plus small-size knobs for tests), writes
``NAME.pdf`` and ``NAME.png`` in the shared style of :mod:`figures.style`, and returns a
:class:`figures.style.FigureResult` holding the data it plotted. :mod:`figures.registry` maps
names to builds for the CLI.
"""

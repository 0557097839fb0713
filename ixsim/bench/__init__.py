"""ixsim's benchmarks: the figures ``ixsim bench`` prints (docs/design.md, "Performance").

``frames`` (raw frames per second through driver, device, cable, device, driver), ``tcp``
(bulk goodput and request/response between two emulated hosts), ``tap`` (Linux in a
namespace against an emulated host), ``memory`` (RSS with many connections) and ``runner``,
which runs them all into one dict.  Figures are wall clock unless their name says virtual;
nothing here is a test (no timed assertions): ``tests/test_bench.py`` only checks that the
command runs and reports every figure.  The micro-benchmarks ``bench_fastpath.py`` and
``bench_wire.py`` are scripts beside them.
"""

"""Queueing disciplines beyond pfifo_fast: Linux's ``net/sched``.

Importing the package registers each discipline with :func:`stack.core.qdisc.register_qdisc`,
as loading a ``sch_*`` module does, so ``tc`` (``host.tc``) and ``net.core.default_qdisc``
find them by kind: ``pfifo_fast`` (the core's), ``fq_codel``, ``fq``.
"""

from stack.sched import fq, fq_codel
from stack.sched.fq import Fq
from stack.sched.fq_codel import FqCodel

__all__ = ["Fq", "FqCodel", "fq", "fq_codel"]

"""LLVM intrinsics for the probe kernels (`tables/probe.py`): prefetch and a line compare.

numba exposes neither a prefetch hint nor a vector compare of a table line, and the probe's
speed rests on both. `tables/probe.py` compiles these inline, and numba's on-disk cache
notices edits to a kernel's own file only: after editing this one, delete
`tables/__pycache__/*.nbi`.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from tables.hashtable import LINE_WORDS


@intrinsic
def prefetch(typingctx, arr, idx):
    """Hint the CPU to load arr[idx] of a 1-d array into cache (LLVM's prefetch, never faults)."""
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        aryty, idxty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        index = context.cast(builder, args[1], idxty, types.intp)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [index], wraparound=False)
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
        fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def line_masks(typingctx, table, base, tag):
    """(tags, empties) of the LINE_WORDS words of table from `base` on: bit j of tags is set
    when word j's high 32 bits equal `tag`, bit j of empties when word j is 0. One vector
    load and two vector compares (numba leaves the plain loop over the words scalar)."""
    sig = types.UniTuple(types.uint64, 2)(table, base, tag)

    def codegen(context, builder, signature, args):
        aryty = signature.args[0]
        ary = context.make_array(aryty)(context, builder, args[0])
        index = context.cast(builder, args[1], signature.args[1], types.intp)
        ptr = cgutils.get_item_pointer(context, builder, aryty, ary, [index], wraparound=False)
        i64 = ir.IntType(64)
        vecty = ir.VectorType(i64, LINE_WORDS)
        words = builder.load(builder.bitcast(ptr, vecty.as_pointer()), align=8)
        tag = context.cast(builder, args[2], signature.args[2], types.uint64)
        tags = builder.shuffle_vector(builder.insert_element(ir.Constant(vecty, None), tag,
                                                             ir.Constant(ir.IntType(32), 0)),
                                      ir.Constant(vecty, None),
                                      ir.Constant(ir.VectorType(ir.IntType(32), LINE_WORDS),
                                                  [0] * LINE_WORDS))
        high = builder.lshr(words, ir.Constant(vecty, [32] * LINE_WORDS))

        def bits(flags):
            return builder.zext(builder.bitcast(flags, ir.IntType(LINE_WORDS)), i64)

        return context.make_tuple(builder, signature.return_type, [
            bits(builder.icmp_unsigned("==", high, tags)),
            bits(builder.icmp_unsigned("==", words, ir.Constant(vecty, [0] * LINE_WORDS)))])

    return sig, codegen

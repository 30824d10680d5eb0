# The CPU dispatch (mg_cpu.h). Declarations only; the header is the reference.

cdef extern from "mg_cpu.h" nogil:
    ctypedef enum mg_isa:
        MG_ISA_GENERIC
        MG_ISA_AVX2
        MG_ISA_AVX512
    mg_isa mg_cpu_isa()
    mg_isa mg_cpu_best_isa()
    mg_isa mg_cpu_set_isa(int level)
    const char *mg_isa_name(mg_isa isa)

"""Size limit of exact enumeration, shared by the kernel and the algorithm registry."""

#: Largest N exact enumeration accepts (2^N states streamed).
EXACT_MAX_N = 24

/* UCRT's <stdlib.h>, reduced to what the kernels use (see README.md). */
#pragma once
#include <stddef.h>
void *__cdecl malloc(size_t size);
void *__cdecl calloc(size_t count, size_t size);
void *__cdecl realloc(void *block, size_t size);
void __cdecl free(void *block);
char *__cdecl getenv(const char *name);
__declspec(noreturn) void __cdecl abort(void);
int __cdecl abs(int x);
/* corecrt_malloc.h, which UCRT's stdlib.h includes */
void *__cdecl _aligned_malloc(size_t size, size_t alignment);
void __cdecl _aligned_free(void *block);

/* UCRT's <string.h>, reduced to what the kernels use (see README.md). */
#pragma once
#include <stddef.h>
void *__cdecl memcpy(void *dst, const void *src, size_t size);
void *__cdecl memmove(void *dst, const void *src, size_t size);
void *__cdecl memset(void *dst, int value, size_t size);
int __cdecl memcmp(const void *a, const void *b, size_t size);
int __cdecl strcmp(const char *a, const char *b);
size_t __cdecl strlen(const char *s);

/* UCRT's <setjmp.h> (x64), which clang's <intrin.h> includes. */
#pragma once
typedef struct _SETJMP_FLOAT128 {
    unsigned __int64 Part[2];
} SETJMP_FLOAT128;
typedef SETJMP_FLOAT128 _JBTYPE;
typedef _JBTYPE jmp_buf[16];
int __cdecl _setjmp(jmp_buf env);
#define setjmp _setjmp

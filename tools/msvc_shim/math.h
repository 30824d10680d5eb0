/* UCRT's <math.h>, reduced to what the kernels use (see README.md); INFINITY and NAN
 * spelled as the UCRT spells them. */
#pragma once
#define _HUGE_ENUF 1e+300
#define INFINITY ((float)(_HUGE_ENUF * _HUGE_ENUF))
#define HUGE_VAL ((double)INFINITY)
#define NAN (-(float)(INFINITY * 0.0F))
double __cdecl ceil(double x);
double __cdecl floor(double x);
double __cdecl fabs(double x);
double __cdecl pow(double x, double y);
double __cdecl sqrt(double x);
double __cdecl exp(double x);
double __cdecl log(double x);
float __cdecl powf(float x, float y);
float __cdecl sqrtf(float x);
float __cdecl fabsf(float x);

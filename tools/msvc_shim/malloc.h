/* UCRT's <malloc.h>: _aligned_malloc and _aligned_free (corecrt_malloc.h). */
#pragma once
#include <stdlib.h>

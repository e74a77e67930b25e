// A 16-float vector type, for code compiled once per instruction set (tile.h, winograd_transforms.h): one zmm with
// -mavx512f, four SSE registers in baseline code. No include guard: include it inside each namespace of its own that
// needs it, so that the builds for different instruction sets never share these inline functions.

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4), may_alias));  // unaligned, any alias

inline v16 load(const float* p) { return *reinterpret_cast<const v16u*>(p); }
inline void store(float* p, v16 v) { *reinterpret_cast<v16u*>(p) = v; }

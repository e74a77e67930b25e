// A 16-float vector type, for code compiled once per instruction set (tile.h, winograd_transforms.h): one zmm with
// -mavx512f; elsewhere a struct of the widest vectors the build has (2 ymm with AVX2, 4 xmm in baseline code), each
// operation applied part by part, since GCC lowers a 64-byte vector type without AVX-512 through the stack (the
// AVX2 tile ran 8× slower so). No include guard: include it inside each namespace of its own that needs it, so that
// the builds for different instruction sets never share these inline functions.

#if defined(__AVX512F__)

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4), may_alias));  // unaligned, any alias

inline v16 load(const float* p) { return *reinterpret_cast<const v16u*>(p); }
inline void store(float* p, v16 v) { *reinterpret_cast<v16u*>(p) = v; }
// max(v, 0) that keeps NaN (NaN < 0 is false), as torch.relu does.
inline v16 relu(v16 v) { return v < 0 ? v16{} : v; }

#else

#if defined(__AVX2__)
constexpr int kPartLanes = 8;
#else
constexpr int kPartLanes = 4;
#endif
constexpr int kParts = 16 / kPartLanes;
typedef float v16_part __attribute__((vector_size(kPartLanes * 4)));
typedef float v16_part_u __attribute__((vector_size(kPartLanes * 4), aligned(4), may_alias));

struct v16 {
  v16_part part[kParts];
};

#define RESNET_V16_PARTS(expr)                               \
  v16 r;                                                     \
  _Pragma("GCC unroll 4") for (int i = 0; i < kParts; i++) { \
    r.part[i] = expr;                                        \
  }                                                          \
  return r

__attribute__((always_inline)) inline v16 operator+(v16 a, v16 b) { RESNET_V16_PARTS(a.part[i] + b.part[i]); }
__attribute__((always_inline)) inline v16 operator-(v16 a, v16 b) { RESNET_V16_PARTS(a.part[i] - b.part[i]); }
__attribute__((always_inline)) inline v16 operator*(float s, v16 a) { RESNET_V16_PARTS(s * a.part[i]); }
__attribute__((always_inline)) inline v16& operator+=(v16& a, v16 b) {
  a = a + b;
  return a;
}
__attribute__((always_inline)) inline v16 load(const float* p) {
  RESNET_V16_PARTS(*reinterpret_cast<const v16_part_u*>(p + i * kPartLanes));
}
__attribute__((always_inline)) inline void store(float* p, v16 v) {
#pragma GCC unroll 4
  for (int i = 0; i < kParts; i++) *reinterpret_cast<v16_part_u*>(p + i * kPartLanes) = v.part[i];
}
__attribute__((always_inline)) inline v16 relu(v16 v) {
  RESNET_V16_PARTS(v.part[i] < 0 ? v16_part{} : v.part[i]);
}

#undef RESNET_V16_PARTS

#endif

# resnet_native: the C++ kernel core. Kernels for an instruction set beyond baseline x86-64 are compiled in their
# own static library with that set's flags; everything else stays baseline, and features.cc picks at run time.
{
  "targets": [
    {
      "target_name": "resnet_native",
      "sources": [
        "native/addon.cc",
        "native/threadpool.cc",
        "native/threadpool_binding.cc",
        "native/cpu/cpu_binding.cc",
        "native/cpu/features.cc",
        "native/cpu/peak.cc",
        "native/conv/conv.cc",
        "native/conv/conv_binding.cc",
        "native/conv/direct.cc",
        "native/conv/lanes.cc",
        "native/conv/im2col.cc",
        "native/conv/phases.cc",
        "native/conv/winograd.cc",
        "native/gemm/dispatch.cc",
        "native/gemm/gemm_binding.cc",
        "native/gemm/pack.cc",
        "native/gemm/sgemm.cc",
        "native/gemm/ukernel_scalar.cc",
        "native/layers/batch_norm.cc",
        "native/layers/elementwise.cc",
        "native/layers/pool.cc",
        "native/layers/shortcut.cc",
        "native/nchwc/conv.cc",
        "native/nchwc/layout.cc",
        "native/nchwc/nchwc_binding.cc",
        "native/nchwc/tile_generic.cc",
        "native/nchwc/winograd.cc",
        "native/optim/optim.cc"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except",
        "resnet_kernels_avx2_fma",
        "resnet_kernels_avx512"
      ],
      "cflags_cc": ["-O3", "-fvisibility=hidden"],
      "conditions": [
        ["target_arch=='x64'", { "defines": ["RESNET_HAVE_AVX2_FMA", "RESNET_HAVE_AVX512"] }],
        ["OS=='mac'", { "xcode_settings": { "GCC_OPTIMIZATION_LEVEL": "3" } }]
      ]
    },
    {
      # The files here guard themselves with __AVX2__/__FMA__, so on other architectures they compile to nothing.
      "target_name": "resnet_kernels_avx2_fma",
      "type": "static_library",
      "sources": [
        "native/conv/direct_avx2_fma.cc",
        "native/cpu/peak_avx2_fma.cc",
        "native/gemm/ukernel_avx2_fma.cc",
        "native/layers/batch_norm_avx2_fma.cc",
        "native/nchwc/tile_avx2_fma.cc",
        "native/nchwc/winograd_avx2_fma.cc"
      ],
      "cflags_cc": ["-O3"],
      "conditions": [
        ["target_arch=='x64'", {
          "defines": ["RESNET_HAVE_AVX2_FMA"],
          "cflags_cc": ["-mavx2", "-mfma"],
          "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-mavx2", "-mfma"], "GCC_OPTIMIZATION_LEVEL": "3" },
          "msvs_settings": { "VCCLCompilerTool": { "AdditionalOptions": ["/arch:AVX2"] } }
        }]
      ]
    },
    {
      # Like the AVX2 library: the files guard themselves with __AVX512F__, so elsewhere they compile to nothing.
      "target_name": "resnet_kernels_avx512",
      "type": "static_library",
      "sources": [
        "native/conv/direct_avx512.cc",
        "native/cpu/peak_avx512.cc",
        "native/gemm/ukernel_avx512.cc",
        "native/layers/batch_norm_avx512.cc",
        "native/nchwc/tile_avx512.cc",
        "native/nchwc/winograd_avx512.cc"
      ],
      "cflags_cc": ["-O3"],
      "conditions": [
        ["target_arch=='x64'", {
          "defines": ["RESNET_HAVE_AVX512"],
          "cflags_cc": ["-mavx512f", "-mfma"],
          "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-mavx512f", "-mfma"], "GCC_OPTIMIZATION_LEVEL": "3" },
          "msvs_settings": { "VCCLCompilerTool": { "AdditionalOptions": ["/arch:AVX512"] } }
        }]
      ]
    }
  ]
}

{
  "targets": [
    {
      "target_name": "veza_rist",
      "sources": ["rist_binding.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "<!@(pkg-config --cflags librist)"],
      "cflags_cc!": ["-fno-exceptions"],
      "defines": ["NAPI_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
      "libraries": ["<!@(pkg-config --libs librist)"]
    }
  ]
}

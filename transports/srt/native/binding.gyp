{
  "targets": [
    {
      "target_name": "veza_srt",
      "sources": ["srt_binding.cc"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "<!@(pkg-config --cflags srt)"],
      "cflags_cc!": ["-fno-exceptions"],
      "defines": ["NAPI_CPP_EXCEPTIONS", "NAPI_VERSION=8"],
      "libraries": ["<!@(pkg-config --libs srt)"]
    }
  ]
}

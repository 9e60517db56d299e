# Finds the C++ dependencies of the recast core and defines imported targets:
#   recast::ort_headers   ONNX Runtime C/C++ API headers (the runtime itself is dlopen'ed)
#   FastJet::FastJet      FastJet (+ fastjettools)
#   ZLIB::ZLIB, Threads::Threads

find_package(Threads REQUIRED)
find_package(ZLIB)
if(NOT ZLIB_FOUND)
  message(FATAL_ERROR "recast: zlib not found (needed for .gz event files). Install Debian's zlib1g-dev.")
endif()
find_package(Python COMPONENTS Interpreter)

# recast_wheel_dir(<var> <module> <path relative to the module's folder> <file expected there>)
# Some PyPI wheels ship C++ headers/libraries (fastjet, mt2): sets <var> to that folder when the
# Python package <module> is importable and the folder holds <file>, else to "".
function(recast_wheel_dir out module rel probe)
  set(_dir "")
  if(Python_Interpreter_FOUND)
    execute_process(
      COMMAND "${Python_EXECUTABLE}" -c
        "import importlib.util, os; s = importlib.util.find_spec('${module}'); print(os.path.dirname(s.origin) if s and s.origin else '')"
      OUTPUT_VARIABLE _pkg OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(_pkg)
      get_filename_component(_candidate "${_pkg}/${rel}" ABSOLUTE)
      if(EXISTS "${_candidate}/${probe}")
        set(_dir "${_candidate}")
      endif()
    endif()
  endif()
  set(${out} "${_dir}" PARENT_SCOPE)
endfunction()

# ---------------------------------------------------------------------------------------------
# ONNX Runtime headers: $ONNXRUNTIME_ROOT (user SDK), else the build cache filled by
# scripts/fetch-ort-headers.sh from Debian trixie's libonnxruntime-dev, else a system install.
# ---------------------------------------------------------------------------------------------
set(ONNXRUNTIME_ROOT "$ENV{ONNXRUNTIME_ROOT}" CACHE PATH "ONNX Runtime SDK prefix (include/ with onnxruntime_cxx_api.h)")
if(DEFINED ENV{RECAST_DEPS_CACHE})
  set(_recast_cache_default "$ENV{RECAST_DEPS_CACHE}")
elseif(DEFINED ENV{XDG_CACHE_HOME})
  set(_recast_cache_default "$ENV{XDG_CACHE_HOME}/recast_ml/deps")
elseif(DEFINED ENV{HOME})
  set(_recast_cache_default "$ENV{HOME}/.cache/recast_ml/deps")
else()
  set(_recast_cache_default "/tmp/.cache/recast_ml/deps")
endif()
set(RECAST_DEPS_CACHE "${_recast_cache_default}" CACHE PATH "Cache for downloaded build dependencies")

if(ONNXRUNTIME_ROOT)
  find_path(ORT_INCLUDE_DIR onnxruntime_cxx_api.h
    HINTS "${ONNXRUNTIME_ROOT}/include" "${ONNXRUNTIME_ROOT}/include/onnxruntime"
          "${ONNXRUNTIME_ROOT}/include/onnxruntime/core/session" NO_DEFAULT_PATH)
  if(NOT ORT_INCLUDE_DIR)
    message(FATAL_ERROR "recast: ONNXRUNTIME_ROOT=${ONNXRUNTIME_ROOT} has no onnxruntime_cxx_api.h under include/")
  endif()
else()
  find_path(ORT_INCLUDE_DIR onnxruntime_cxx_api.h
    HINTS "${RECAST_DEPS_CACHE}/onnxruntime-headers/include" NO_DEFAULT_PATH)
  if(NOT ORT_INCLUDE_DIR)
    find_path(ORT_INCLUDE_DIR onnxruntime_cxx_api.h PATH_SUFFIXES onnxruntime)
  endif()
  if(NOT ORT_INCLUDE_DIR AND RECAST_FETCH_ORT_HEADERS)
    message(STATUS "recast: fetching ONNX Runtime headers into ${RECAST_DEPS_CACHE}")
    execute_process(
      COMMAND bash "${CMAKE_CURRENT_LIST_DIR}/../scripts/fetch-ort-headers.sh" "${RECAST_DEPS_CACHE}"
      RESULT_VARIABLE _ort_rc OUTPUT_VARIABLE _ort_out ERROR_VARIABLE _ort_err)
    if(_ort_rc EQUAL 0)
      unset(ORT_INCLUDE_DIR CACHE)
      find_path(ORT_INCLUDE_DIR onnxruntime_cxx_api.h
        HINTS "${RECAST_DEPS_CACHE}/onnxruntime-headers/include" NO_DEFAULT_PATH)
    else()
      message(WARNING "recast: fetching the ONNX Runtime headers failed:\n${_ort_err}")
    endif()
  endif()
  if(NOT ORT_INCLUDE_DIR)
    message(FATAL_ERROR
      "recast: ONNX Runtime headers not found. Run scripts/fetch-ort-headers.sh (needs apt-get and "
      "access to Debian's archive), install Debian's libonnxruntime-dev, or set ONNXRUNTIME_ROOT to "
      "an ONNX Runtime SDK.")
  endif()
endif()
file(STRINGS "${ORT_INCLUDE_DIR}/onnxruntime_c_api.h" _ort_api_line REGEX "^#define ORT_API_VERSION [0-9]+")
string(REGEX REPLACE "^#define ORT_API_VERSION ([0-9]+).*" "\\1" ORT_HEADER_API_VERSION "${_ort_api_line}")
message(STATUS "recast: ONNX Runtime headers (C API v${ORT_HEADER_API_VERSION}) in ${ORT_INCLUDE_DIR}")
add_library(recast_ort_headers INTERFACE)
add_library(recast::ort_headers ALIAS recast_ort_headers)
target_include_directories(recast_ort_headers INTERFACE "$<BUILD_INTERFACE:${ORT_INCLUDE_DIR}>")

# ---------------------------------------------------------------------------------------------
# FastJet: $FASTJET_ROOT, else the PyPI `fastjet` wheel (ships headers and shared libraries),
# else a system install (Debian libfastjet-dev + libfastjettools-dev).
# ---------------------------------------------------------------------------------------------
set(FASTJET_ROOT "$ENV{FASTJET_ROOT}" CACHE PATH "FastJet installation prefix")
set(RECAST_FASTJET_FROM_WHEEL OFF)
if(NOT FASTJET_ROOT)
  recast_wheel_dir(_fj_py fastjet "." "include/fastjet/ClusterSequence.hh")
  if(_fj_py)
    set(FASTJET_ROOT "${_fj_py}")
    set(RECAST_FASTJET_FROM_WHEEL ON)
  endif()
endif()
if(FASTJET_ROOT)
  find_path(FASTJET_INCLUDE_DIR fastjet/ClusterSequence.hh HINTS "${FASTJET_ROOT}/include" NO_DEFAULT_PATH)
  find_library(FASTJET_LIBRARY fastjet HINTS "${FASTJET_ROOT}/lib64" "${FASTJET_ROOT}/lib" NO_DEFAULT_PATH)
  find_library(FASTJETTOOLS_LIBRARY fastjettools HINTS "${FASTJET_ROOT}/lib64" "${FASTJET_ROOT}/lib" NO_DEFAULT_PATH)
else()
  find_path(FASTJET_INCLUDE_DIR fastjet/ClusterSequence.hh)
  find_library(FASTJET_LIBRARY fastjet)
  find_library(FASTJETTOOLS_LIBRARY fastjettools)
endif()
if(NOT FASTJET_INCLUDE_DIR OR NOT FASTJET_LIBRARY OR NOT FASTJETTOOLS_LIBRARY)
  message(FATAL_ERROR
    "recast: FastJet not found. Install the Python package 'fastjet' (pip install fastjet), or Debian's "
    "libfastjet-dev and libfastjettools-dev, or set FASTJET_ROOT to a FastJet installation prefix.")
endif()
get_filename_component(FASTJET_LIBRARY_DIR "${FASTJET_LIBRARY}" DIRECTORY)
message(STATUS "recast: FastJet ${FASTJET_LIBRARY} (from wheel: ${RECAST_FASTJET_FROM_WHEEL})")
add_library(FastJet::FastJet SHARED IMPORTED GLOBAL)
set_target_properties(FastJet::FastJet PROPERTIES
  IMPORTED_LOCATION "${FASTJET_LIBRARY}"
  INTERFACE_INCLUDE_DIRECTORIES "${FASTJET_INCLUDE_DIR}")
add_library(FastJet::Tools SHARED IMPORTED GLOBAL)
set_target_properties(FastJet::Tools PROPERTIES
  IMPORTED_LOCATION "${FASTJETTOOLS_LIBRARY}"
  INTERFACE_LINK_LIBRARIES FastJet::FastJet)

# ---------------------------------------------------------------------------------------------
# toml++ (detector cards): used header-only inside the core (no run-time library needed).
# Debian: libtomlplusplus-dev (installed by scripts/bootstrap.sh); or TOMLPP_INCLUDE_DIR.
# ---------------------------------------------------------------------------------------------
find_path(TOMLPP_INCLUDE_DIR toml++/toml.h HINTS "$ENV{TOMLPP_ROOT}/include")
if(NOT TOMLPP_INCLUDE_DIR)
  find_path(TOMLPP_INCLUDE_DIR toml++/toml.hpp HINTS "$ENV{TOMLPP_ROOT}/include")
endif()
if(NOT TOMLPP_INCLUDE_DIR)
  message(FATAL_ERROR "recast: toml++ not found. Install Debian's libtomlplusplus-dev or set TOMLPP_ROOT.")
endif()
add_library(recast_tomlpp INTERFACE)
target_include_directories(recast_tomlpp INTERFACE "$<BUILD_INTERFACE:${TOMLPP_INCLUDE_DIR}>")

# ---------------------------------------------------------------------------------------------
# MT2 (Lester & Nachman bisection, arXiv:1411.4312, MIT licence): the header-only calculator
# `lester_mt2_bisect_v7.h`, shipped by the PyPI `mt2` wheel (directory `_mt2/` beside the `mt2`
# package), or $MT2_INCLUDE_DIR. Used privately by the analysis functions.
# ---------------------------------------------------------------------------------------------
set(MT2_INCLUDE_DIR "$ENV{MT2_INCLUDE_DIR}" CACHE PATH "directory holding lester_mt2_bisect_v7.h")
if(NOT MT2_INCLUDE_DIR)
  recast_wheel_dir(MT2_INCLUDE_DIR mt2 "../_mt2" "lester_mt2_bisect_v7.h")
endif()
if(NOT MT2_INCLUDE_DIR OR NOT EXISTS "${MT2_INCLUDE_DIR}/lester_mt2_bisect_v7.h")
  message(FATAL_ERROR "recast: lester_mt2_bisect_v7.h not found. Install the Python package 'mt2' "
                      "(pip install mt2) or set MT2_INCLUDE_DIR.")
endif()
message(STATUS "recast: MT2 calculator in ${MT2_INCLUDE_DIR}")

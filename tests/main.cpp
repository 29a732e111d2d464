//===- main.cpp - Catch2 entry point for iterc's tests --------------------===//
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>

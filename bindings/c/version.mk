# The version of libdipsea, read from the one place that sets it: [workspace.package]
# in the root Cargo.toml. Included by bindings/c/Makefile and bindings/c/examples/Makefile.
#
# ABI is the soname's version (build.rs sets `-Wl,-soname,libdipsea.so.$(ABI)`): the
# major version from 1.0 on, 0.MINOR before, as Cargo judges compatibility.

VERSION := $(shell sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' $(ROOT)/Cargo.toml)
VERSION_MAJOR := $(word 1,$(subst ., ,$(VERSION)))
VERSION_MINOR := $(word 2,$(subst ., ,$(VERSION)))
VERSION_PATCH := $(word 1,$(subst -, ,$(word 3,$(subst ., ,$(VERSION)))))
ABI := $(if $(filter 0,$(VERSION_MAJOR)),0.$(VERSION_MINOR),$(VERSION_MAJOR))
SONAME := libdipsea.so.$(ABI)

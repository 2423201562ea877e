// Package argon2 is golang.org/x/crypto/argon2 (and the blake2b it uses) at
// v0.59.0, portable Go code only, under the Go authors' BSD licence (LICENSE).
//
// One change: finished hashes' block buffers are pooled per memory size and reused
// (getBlocks, putBlocks in argon2.go), so that memory under a flood of sign-ins is
// about slots x Memory, without as much again in garbage waiting for the collector.
//
// Why a copy: the x/crypto build for amd64 imports golang.org/x/sys/cpu to pick its
// SSE4.1 code, and the module's go.mod does not yet require golang.org/x/sys, so
// importing golang.org/x/crypto/argon2 breaks the build. Once go.mod requires
// golang.org/x/sys, this directory can go and accounts/password.go can import
// golang.org/x/crypto/argon2 (the API is the same), at the cost of the pooling.
package argon2

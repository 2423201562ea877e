// This directory is golang.org/x/crypto/argon2 (and the blake2b it uses) at
// v0.59.0, portable Go code only, under the Go authors' BSD licence (LICENSE).
//
// Why a copy: the x/crypto build for amd64 imports golang.org/x/sys/cpu to pick its
// SSE4.1 code, and the module's go.mod does not yet require golang.org/x/sys, so
// importing golang.org/x/crypto/argon2 breaks the build. Once go.mod requires
// golang.org/x/sys, delete this directory and import golang.org/x/crypto/argon2 in
// accounts/password.go: the API is the same.

package argon2

//go:build race

package accounts_test

// raceEnabled: the race detector slows Go code about tenfold, argon2 included.
const raceEnabled = true

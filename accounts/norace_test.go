//go:build !race

package accounts_test

const raceEnabled = false

//go:build !race

package main

// raceEnabled says the tests run with -race: the gw binary is built with it too.
const raceEnabled = false

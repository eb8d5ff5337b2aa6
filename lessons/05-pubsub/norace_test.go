//go:build !race

package pubsub_test

// readerRaceMessages is how many messages the reader-races-publisher test
// publishes: enough that a makeRoom whose receive can block is caught on
// every run, at well under a second for a correct one.
const readerRaceMessages = 200_000

// Package all registers every dialect callhook ships: importing it makes
// them known to the configuration and the service. Each dialect has one
// file here, so adding a dialect adds a file rather than editing a list.
package all

package web

// ParseIPv4Port is exported for the fuzz test.
var ParseIPv4Port = parseIPv4Port

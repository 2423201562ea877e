// Package mounting holds no code. Its test is the promise that every handler the
// library serves (accounts, comments, contact, newsletter, tracking and the
// privacy pages) works mounted under any prefix with the routers hosts use:
// net/http's ServeMux, with and without http.StripPrefix, chi and gorilla/mux.
// Each request reaches the handler, not the router's 404, and every link on its
// pages points under the prefix.
package mounting

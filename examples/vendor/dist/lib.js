/*! lib 1.0 */ window.lib = {};

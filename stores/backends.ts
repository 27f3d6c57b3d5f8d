// Imports every store backend so that each registers its URL scheme with
// stores/url.ts. Add a line here for each new backend module.
import "./binary-cache-file";
import "./binary-cache-http";
import "./binary-cache-s3";
import "./daemon-client";
import "./compose";
import "./memory";
import "./local";
export {};

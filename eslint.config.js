// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      // Library code never prints: only src/cli (and scripts, tests, benches) talk to humans.
      "no-console": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
    },
  },
  {
    files: ["src/cli/**", "scripts/**", "harness/**", "test/**", "bench/**"],
    rules: { "no-console": "off" },
  },
);

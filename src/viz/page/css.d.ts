/** The page imports its stylesheet for vite to bundle; tsc only needs to know such imports exist. */
declare module '*.css';

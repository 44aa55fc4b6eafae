"""Workers that time one tool on one input in a process of its own: emostream here, and the fer
package in its own environment (``fer_env.sh``), so neither shares memory or threads."""

'use strict';
// The state, scope and layout code is shared with the browser map (`periscope ui`): one copy, in clients/web.
module.exports = require('../../web/state.js');

<%!
from flask_versioning.layout import render_user_template
%>${render_user_template(context)}